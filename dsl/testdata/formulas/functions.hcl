# Formula fixtures: functions and casts. See fields.hcl for the conventions.

flow "too_few_arguments" {
  source "file" { path = "accounts.csv" }
  map { s = "substr(Name)" } # error at substr: not enough arguments to call substr
  sink "file" { path = "out" }
}

flow "too_many_arguments" {
  source "file" { path = "accounts.csv" }
  map { s = "lower(Name, Stage)" } # error: too many arguments to call lower
  sink "file" { path = "out" }
}

flow "wrong_argument_type" {
  source "file" { path = "accounts.csv" }
  map { s = "lower(Employees)" } # error at Employees: cannot use int as argument (type string) to call lower
  sink "file" { path = "out" }
}

flow "cast_of_wrong_type" {
  source "file" { path = "accounts.csv" }
  map { d = "date(Employees)" } # error at Employees: to call date
  sink "file" { path = "out" }
}

flow "float_of_a_time" {
  source "file" { path = "accounts.csv" }
  map { f = "float(LastModifiedDate)" } # error: to call float
  sink "file" { path = "out" }
}

flow "unknown_function" {
  source "file" { path = "accounts.csv" }
  map { s = "uppr(Name)" } # error at uppr: There is no function "uppr". Did you mean "upper"?
  sink "file" { path = "out" }
}

flow "bad_regex" {
  source "file" { path = "accounts.csv" }
  filter { where = "regex_match(Name, '[a-')" } # error at '[a-': invalid regular expression
  sink "file" { path = "out" }
}

flow "bad_date_trunc_unit" {
  source "file" { path = "accounts.csv" }
  map { d = "date_trunc('fortnight', LastModifiedDate)" } # error at 'fortnight': date_trunc does not know the unit "fortnight"
  sink "file" { path = "out" }
}

flow "bad_duration" {
  source "file" { path = "accounts.csv" }
  map { d = "add_duration(LastModifiedDate, 'soon')" } # error at 'soon': Invalid argument in formula
  sink "file" { path = "out" }
}

flow "coalesce_of_mixed_types" {
  source "file" { path = "accounts.csv" }
  map { c = "coalesce(Name, Employees)" } # error: to call coalesce
  sink "file" { path = "out" }
}

flow "result_is_a_list" {
  source "file" { path = "accounts.csv" }
  map { parts = "split(Name, ' ')" } # error: Unsupported formula result type
  sink "file" { path = "out" }
}

flow "functions_are_fine" {
  source "file" { path = "accounts.csv" }
  map {
    all   = true
    name  = "upper(trim(Name))"
    short = "substr(Name, 0, 3)"
    hash  = "sha256(Id)"
    count = "int(Employees) + len(Stage)"
    when  = "format_time(date_trunc('day', LastModifiedDate), '2006-01-02')"
    label = "concat(Name, ' / ', Stage)"
  }
  sink "file" { path = "out" }
}
