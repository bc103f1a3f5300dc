flow "truncates" {
  source "file" { path = "in.csv" }
  truncate "name" {} # error: Missing required argument "length"
  truncate "name" { length = 0 } # error: Invalid length value
  truncate "name" { length = 99999999999 } # error: Invalid length value
  truncate "name" { length = "ten" } # error: a number is required
  truncate { length = 3 } # error: Missing field label for truncate
  sink "file" { path = "out/" }
}
