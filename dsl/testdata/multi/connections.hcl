connection "salesforce" "prod" {
  login_url = "https://login.example.com"
  client_id = var.client_id
}
