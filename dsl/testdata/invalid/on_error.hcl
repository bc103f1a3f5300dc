flow "errors" {
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
  on_error {
    mode       = "ignore" # error: Invalid mode value
    deadletter = "out/rejected/" # error: Did you mean "dead_letter"?
  }
  on_error { mode = "continue" } # error: Duplicate on_error block
}

flow "empty_dead_letter" {
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
  on_error {
    mode        = "continue"
    dead_letter = "" # error: Empty dead_letter path
  }
}
