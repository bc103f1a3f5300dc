# Formula fixtures: types. See fields.hcl for the conventions.

flow "number_against_string" {
  source "file" { path = "accounts.csv" }
  filter { where = "AnnualRevenue > 'x'" } # error at >: mismatched types float64 and string
  sink "file" { path = "out" }
}

flow "string_plus_int" {
  source "file" { path = "accounts.csv" }
  map { label = "Name + Employees" } # error: Type mismatch in formula
  sink "file" { path = "out" }
}

flow "where_is_not_boolean" {
  source "file" { path = "accounts.csv" }
  filter { where = "lower(Name)" } # error at lower: Formula must be boolean
  sink "file" { path = "out" }
}

flow "check_is_not_boolean" {
  source "file" { path = "accounts.csv" }
  validate { check = "Employees + 1" } # error at Employees: The check formula produces int
  sink "file" { path = "out" }
}

flow "date_against_string" {
  source "file" {
    path   = "accounts.csv"
    schema = { CloseDate = "date" }
  }
  filter { where = "CloseDate > '2026-01-01'" } # error: mismatched types time.Time and string
  sink "file" { path = "out" }
}

flow "bool_in_arithmetic" {
  source "file" { path = "accounts.csv" }
  map { n = "IsActive * 2" } # error: Type mismatch in formula
  sink "file" { path = "out" }
}

flow "not_on_a_string" {
  source "file" { path = "accounts.csv" }
  filter { where = "!Name" } # error: Type mismatch in formula
  sink "file" { path = "out" }
}

flow "typed_comparisons_are_fine" {
  source "file" {
    path   = "accounts.csv"
    schema = { CloseDate = "date" }
  }
  filter { where = "CloseDate >= date('2026-01-01') && AnnualRevenue > 1000 && Employees in [12, 120]" }
  map {
    all     = true
    revenue = "float(Employees) * 2.5 + AnnualRevenue"
    closed  = "timestamp('2026-01-01T00:00:00Z') < LastModifiedDate"
  }
  sink "file" { path = "out" }
}
