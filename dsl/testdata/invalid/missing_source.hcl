flow "no_source" { # error: Missing source
  sink "file" { path = "out/" }
}
