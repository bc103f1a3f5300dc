variable "min" { default = "1" }

flow "filters" {
  source "file" { path = "in.csv" }
  filter {} # error: Missing required argument "where"
  filter { where = true } # error: Invalid formula
  filter { where = "Amount > ${var.min}" } # error: cannot use HCL interpolation
  filter { where = "${var.min}" } # error: cannot use HCL interpolation
  filter { where = "  " } # error: Empty formula
  filter { whre = "x" } # error: Did you mean "where"? # error: Missing required argument "where"
  filter "named" { where = "x" } # error: Extraneous label for filter
  filter {
    where = "x"
    extra {} # error: takes only arguments, not nested blocks
  }
  sink "file" { path = "out/" }
}
