flow "attrs" {
  source "file" { # error: Missing required argument "path"
    pth         = "in.csv" # error: Did you mean "path"?
    header      = "yes" # error: a bool is required
    null_values = "NA" # error: list of string required
    schema      = ["a"] # error: Incorrect attribute value type
    delimiter   = ["a", "b"] # error: must be a string
  }
  sink "file" {
    path              = "out/"
    target_file_size  = 1.5 # error: a whole number is required
    compression_ratio = "fast" # error: a number is required
    partition_by      = [null] # error: element 0 is null
  }
}
