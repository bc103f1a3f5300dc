# A marketing campaign's contact list, dropped into a bucket as contacts.csv,
# → typed Parquet on local disk, one directory per country. The first half of
# AppFlow's "campaign contacts" use case; the Salesforce half comes with the
# Salesforce connector.
#
# By default it reads a local S3-compatible store (versitygw, MinIO, ...) on
# http://127.0.0.1:7070 with the keys below. For AWS, set the variables, e.g.
#   SLUICE_VAR_s3_endpoint="" SLUICE_VAR_s3_access_key_id=... sluice run flows/campaign-contacts-from-s3.hcl
# (an empty endpoint and empty keys use AWS S3 and the default credential
# chain: environment, shared config, web identity, instance metadata).

variable "s3_endpoint" {
  description = "S3-compatible endpoint URL; empty for AWS S3."
  default     = "http://127.0.0.1:7070"
}

variable "s3_region" {
  default = "us-east-1"
}

variable "s3_access_key_id" {
  description = "Static access key id; empty for the default AWS credential chain."
  default     = "sluice-local"
}

variable "s3_secret_access_key" {
  sensitive = true
  default   = "sluice-local-secret"
}

variable "campaign_bucket" {
  default = "campaigns"
}

variable "campaign_prefix" {
  description = "Key prefix of the campaign's files, e.g. spring-2026/."
  default     = "spring-2026/"
}

connection "s3" "campaigns" {
  endpoint          = var.s3_endpoint
  region            = var.s3_region
  access_key_id     = var.s3_access_key_id
  secret_access_key = var.s3_secret_access_key
}

flow "campaign_contacts_from_s3" {
  description = "Campaign contacts from S3 to Parquet, per country"

  source "s3" {
    connection = connection.s3.campaigns
    bucket     = var.campaign_bucket
    prefix     = var.campaign_prefix
    glob       = "contacts.csv"
    format     = "csv"
    schema     = { Id = "string" }
  }

  filter {
    where = "Email != nil"
  }

  map {
    id      = "Id"
    name    = "FirstName + ' ' + LastName"
    email   = "lower(Email)"
    country = "Country"
  }

  partition {
    keys = ["country"]
  }

  sink "file" "campaign" {
    path   = "out/campaign-contacts"
    format = "parquet"
  }

  on_error {
    mode        = "continue"
    dead_letter = "out/rejected"
  }
}
