flow "no_sink" { # error: Missing sink
  source "file" { path = "in.csv" }
}
