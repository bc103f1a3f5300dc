flow "bad_cron" {
  trigger "schedule" {
    cron = "*/15 * * *" # error: Invalid cron expression
  }
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "bad_rate" {
  trigger "schedule" {
    rate = "every five minutes" # error: Invalid rate
  }
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "short_rate" {
  trigger "schedule" {
    rate = "10ms" # error: A rate must be at least 1s
  }
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "both" {
  trigger "schedule" {
    cron = "@hourly"
    rate = "1h" # error: Conflicting schedule arguments
  }
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "neither" {
  trigger "schedule" { # error: Missing schedule
    timezone = "UTC"
  }
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "times" {
  trigger "schedule" {
    cron     = "0 6 * * MON-FRI"
    timezone = "Mars/Olympus_Mons" # error: Unknown time zone
    start    = "2026-13-01" # error: Invalid start time
    end      = "yesterday" # error: Invalid end time
    max_failures = -1 # error: Invalid max_failures value
    retries  = 3 # error: Unsupported argument
  }
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "backwards" {
  trigger "schedule" {
    rate  = "5m"
    start = "2026-06-01T00:00:00Z"
    end   = "2026-01-01T00:00:00Z" # error: Schedule ends before it starts
  }
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "incremental" {
  trigger "schedule" {
    rate = "5m"
    incremental { # error: Missing required argument "cursor"
      start_from = "last tuesday" # error: Invalid start_from time
    }
    incremental { cursor = "SystemModstamp" } # error: Duplicate incremental block
    incremantal {} # error: Did you mean "incremental"?
  }
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "overlapping_incremental" {
  trigger "schedule" {
    rate          = "5m"
    allow_overlap = true # error: Overlapping incremental runs
    incremental { cursor = "SystemModstamp" }
  }
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}

flow "overlap_not_bool" {
  trigger "schedule" {
    rate          = "5m"
    allow_overlap = "sometimes" # error: Incorrect attribute value type
  }
  source "file" { path = "in.csv" }
  sink "file" { path = "out/" }
}
