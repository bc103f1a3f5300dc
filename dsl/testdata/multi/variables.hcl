variable "client_id" {
  sensitive = true
}
