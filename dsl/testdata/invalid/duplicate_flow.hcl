flow "copy" {
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "copy" { # error: Duplicate flow
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}
