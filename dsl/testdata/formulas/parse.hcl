# Formula fixtures: a map that names an output field twice. HCL itself refuses
# the second definition while parsing, so nothing else of this file is checked.

flow "duplicate_map_field" {
  source "file" { path = "accounts.csv" }
  map {
    id = "Id"
    id = "lower(Id)" # error at id: Attribute redefined
  }
  sink "file" { path = "out" }
}
