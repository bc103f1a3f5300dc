connection "ftp" "box" { # error: Unknown connector type
  host = "ftp.example.com"
}

flow "f" {
  source "sftp" { # error: Unknown connector type
    host = "x"
  }
  sink "postgres" "db" {
    connection = connection.postgres.warehouse # error: Reference to undeclared connection
    table      = "t"
  }
}

flow "g" {
  source "postgres" { # error: cannot be a source
    table = "t"
  }
  sink "file" { path = "out/" }
}
