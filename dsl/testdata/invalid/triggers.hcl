flow "t1" {
  trigger "cron" {} # error: Unknown trigger kind
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "t2" {
  trigger "on_demand" {}
  trigger "schedul" {} # error: Duplicate trigger block
  trigger {} # error: Missing kind label for trigger
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "t3" {
  trigger "even" {} # error: Did you mean "event"?
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}
