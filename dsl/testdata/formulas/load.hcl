# Formula fixtures: errors the loader finds before any schema is known. The
# loader reports all of them at once; nothing is compiled after them.

flow "interpolation" {
  source "file" { path = "accounts.csv" }
  filter { where = "Name == '${var.x}'" } # error: cannot use HCL interpolation
  sink "file" { path = "out" }
}

flow "not_a_string" {
  source "file" { path = "accounts.csv" }
  filter { where = true } # error: must be written as a quoted string
  sink "file" { path = "out" }
}

flow "empty_formula" {
  source "file" { path = "accounts.csv" }
  validate { check = "  " } # error: Empty formula
  sink "file" { path = "out" }
}
