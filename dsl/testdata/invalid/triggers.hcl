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

flow "t4" {
  trigger "event" {} # error: Source has no change events
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

connection "salesforce" "crm" {
  login_url = "https://login.salesforce.com"
  client_id = "id"
}

flow "t5" {
  trigger "event" {
    event        = "ContactChangeEvent"
    batch_size   = 0 # error: Invalid batch_size value
    batch_window = "soon" # error: Invalid batch window
    replay_from  = "start" # error: Unsupported argument
  }
  source "salesforce" {
    connection = connection.salesforce.crm
    object     = "Contact"
  }
  sink "file" { path = "out/" }
}

flow "t6" {
  source "file" { path = "in.csv" }
  sink "file" {
    path    = "out/"
    deletes = true # error: Deletes need an upsert
  }
}
