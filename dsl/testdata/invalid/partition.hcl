flow "partitions" {
  source "file" { path = "in.csv" }
  partition {} # error: Missing required argument "keys"
  partition { keys = [] } # error: Duplicate partition block
  sink "file" { path = "out/" }
}

flow "empty_keys" {
  source "file" { path = "in.csv" }
  partition { keys = [] } # error: No partition keys
  sink "file" { path = "out/" }
}

connection "postgres" "db" {
  dsn = "postgres://localhost/db"
}

flow "unused" {
  source "file" { path = "in.csv" }
  partition { keys = ["country"] } # warning: Partition keys not used
  sink "postgres" {
    connection = connection.postgres.db
    table      = "t"
  }
}
