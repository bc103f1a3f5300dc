# Formula fixtures: formulas that do not parse. See fields.hcl for the conventions.

flow "dangling_operator" {
  source "file" { path = "accounts.csv" }
  map { s = "Name +" } # error: Invalid formula syntax
  sink "file" { path = "out" }
}

flow "unclosed_paren" {
  source "file" { path = "accounts.csv" }
  filter { where = "(Employees > 1" } # error: Invalid formula syntax
  sink "file" { path = "out" }
}

flow "unterminated_string" {
  source "file" { path = "accounts.csv" }
  filter { where = "Name == 'Acme" } # error: literal not terminated
  sink "file" { path = "out" }
}
