connection "salesforce" "prod" {
  login_url = "https://login.example.com"
  client_id = "x"
}

connection "salesforce" "prod" { # error: Duplicate connection
  login_url = "https://login.example.com"
  client_id = "x"
}

connection "salesforce" "half" { # error: Missing required argument "client_id"
  login_url     = "https://login.example.com"
  client_secret = "x" # error: Unsupported argument
}

connection "file" "local" {} # error: Connector takes no connection

connection "salesforce" "my conn" {} # error: Invalid connection label

connection "postgres" "chained" {
  dsn = connection.salesforce.prod # error: Connection reference not allowed here
}

connection "salesforce" "nested" {
  login_url = "https://login.example.com"
  client_id = "x"
  auth "jwt" {} # error: takes only arguments
}

flow "uses" {
  source "salesforce" {
    connection = connection.salesforce.half
    object     = "Contact"
  }
  sink "file" { path = "out/" }
}
