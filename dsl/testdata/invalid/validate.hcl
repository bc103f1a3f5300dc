flow "validates" {
  source "file" { path = "in.csv" }
  validate { on_fail = "drop" } # error: Missing required argument "check"
  validate {
    check   = "x > 0"
    on_fail = "dead-letter" # error: Did you mean "dead_letter"?
  }
  validate {
    check   = "x > 0"
    message = ["a"] # error: Incorrect attribute value type
  }
  validate {
    check = 1 # error: Invalid formula
  }
  sink "file" { path = "out/" }
}
