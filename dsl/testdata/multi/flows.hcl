flow "from_sf" {
  source "salesforce" {
    connection = connection.salesforce.prod
    object     = "Account"
  }
  sink "file" { path = "out/" }
}
