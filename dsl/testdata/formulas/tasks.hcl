# Formula fixtures: task blocks that name fields. These errors point at the
# label or attribute that names the field. See fields.hcl for the conventions.

flow "mask_missing_field" {
  source "file" { path = "accounts.csv" }
  mask "Phnoe" { keep_last = 4 } # error at "Phnoe": mask names "Phnoe", which is not a field at this point in the flow. Did you mean "Phone"?
  sink "file" { path = "out" }
}

flow "mask_non_string" {
  source "file" { path = "accounts.csv" }
  mask "Employees" { keep_first = 1 } # error: Field is not a string
  sink "file" { path = "out" }
}

flow "mask_formula_bad_field" {
  source "file" { path = "accounts.csv" }
  mask "Phone" { formula = "sha256(Phon)" } # error at Phon: Did you mean "Phone"?
  sink "file" { path = "out" }
}

flow "truncate_missing_field" {
  source "file" { path = "accounts.csv" }
  truncate "Titel" { length = 5 } # error: truncate names "Titel"
  sink "file" { path = "out" }
}

flow "truncate_non_string" {
  source "file" { path = "accounts.csv" }
  truncate "AnnualRevenue" { length = 3 } # error: truncate works on strings, but "AnnualRevenue" has type float64
  sink "file" { path = "out" }
}

flow "except_missing_field" {
  source "file" { path = "accounts.csv" }
  map {
    all    = true
    except = ["Fax"] # error at ["Fax"]: except names "Fax"
  }
  sink "file" { path = "out" }
}

flow "partition_key_missing" {
  source "file" { path = "accounts.csv" }
  partition { keys = ["Country"] } # error at ["Country"]: The partition key "Country" is not a field
  sink "file" { path = "out" }
}

flow "tasks_are_fine" {
  source "file" { path = "accounts.csv" }
  mask "Phone" { keep_last = 4 }
  mask "Name" { formula = "substr(Name, 0, 1) + '***'" }
  truncate "Stage" { length = 6 }
  map {
    all    = true
    except = ["First Name"]
  }
  partition { keys = ["Stage"] }
  sink "file" { path = "out" }
}
