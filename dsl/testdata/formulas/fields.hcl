# Formula fixtures: field references. Each flow holds at most one error,
# because the compiler stops at a flow's first broken task. A line that must
# get an error ends in `# error: <substring of summary or detail>`; with
# `# error at <token>:` the diagnostic must also start at that token's column.
# cmd/sluice/formula_fixtures_test.go runs `sluice validate --json` on each file.

flow "typo_in_field" {
  source "file" { path = "accounts.csv" }
  filter { where = "Nmae != nil" } # error at Nmae: Did you mean "Name"?
  sink "file" { path = "out" }
}

flow "case_slip" {
  source "file" { path = "accounts.csv" }
  filter { where = "Stage == 'Closed Won' && employees > 10" } # error at employees: Did you mean "Employees"?
  sink "file" { path = "out" }
}

flow "field_renamed_by_map" {
  source "file" { path = "accounts.csv" }
  map {
    id   = "Id"
    name = "Name"
  }
  filter { where = "Name != nil" } # error at Name: There is no field "Name" at this point in the flow. Did you mean "name"?
  sink "file" { path = "out" }
}

flow "field_not_projected" {
  source "file" {
    path   = "accounts.csv"
    fields = ["Id", "Name"]
  }
  validate { check = "Employees > 0" } # error at Employees: Unknown field in formula
  sink "file" { path = "out" }
}

flow "name_with_space_needs_env" {
  source "file" { path = "accounts.csv" }
  map { first = "First + Name" } # error at First: There is no field "First"
  sink "file" { path = "out" }
}

flow "env_form_is_fine" {
  source "file" { path = "accounts.csv" }
  map {
    first = "$env[\"First Name\"]"
    greet = "'Hi ' + $env['First Name']"
  }
  filter { where = "first != nil && len(greet) > 3" }
  sink "file" { path = "out" }
}

flow "excepted_field_is_gone" {
  source "file" { path = "accounts.csv" }
  map {
    all    = true
    except = ["Phone"]
  }
  mask "Phone" { keep_last = 4 } # error: mask names "Phone", which is not a field at this point
  sink "file" { path = "out" }
}
