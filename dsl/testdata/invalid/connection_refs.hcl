connection "salesforce" "prod" {
  login_url = "https://login.example.com"
  client_id = "x"
}

connection "postgres" "db" {
  dsn = "postgres://localhost/db"
}

flow "refs" {
  source "salesforce" { # error: Missing required argument "connection"
    object = "Contact"
  }
  sink "salesforce" "wrong" {
    connection = connection.postgres.db # error: Connection type mismatch
    object     = "Contact"
  }
  sink "salesforce" "typo" {
    connection = connection.salesforce.prd # error: Did you mean "prod"?
    object     = "Contact"
  }
  sink "salesforce" "string" {
    connection = "salesforce.prod" # error: Invalid connection reference
    object     = "Contact"
  }
  sink "file" {
    connection = connection.salesforce.prod # error: takes no connection
    path       = "out/"
  }
  sink "postgres" {
    connection = connection.postgres # error: Invalid connection reference
    table      = "t"
  }
}
