# A marketing campaign's contact list (contacts.csv) → new Leads in Salesforce:
# AppFlow's second use case. Rows Salesforce refuses — here the contacts without
# a usable email address, whose company cannot be told, so Lead.Company (required) is
# empty — go to the dead-letter output with Salesforce's code and message.
#
# By default it talks to the Salesforce emulator with its development
# credentials:
#   sluice dev salesforce --addr 127.0.0.1:8484 &
#   sluice run flows/campaign-leads.hcl
# For a real org, set the variables, e.g.
#   SLUICE_VAR_sf_login_url=https://acme.my.salesforce.com SLUICE_VAR_sf_auth=refresh_token \
#   SLUICE_VAR_sf_client_id=... SLUICE_VAR_sf_client_secret=... SLUICE_VAR_sf_refresh_token=... \
#   sluice run flows/campaign-leads.hcl

variable "sf_login_url" {
  description = "Salesforce login or My Domain URL; the default is the emulator."
  default     = "http://127.0.0.1:8484"
}

variable "sf_auth" {
  description = "refresh_token, jwt, client_credentials or password."
  default     = "password"
}

variable "sf_client_id" {
  sensitive = true
  default   = "3MVG9sluice.emulator.dev.consumer.key"
}

variable "sf_client_secret" {
  sensitive = true
  default   = "sluice-dev-consumer-secret"
}

variable "sf_username" {
  default = "dev@sluice.example"
}

variable "sf_password" {
  sensitive = true
  default   = "sluice-dev-password"
}

variable "sf_refresh_token" {
  sensitive = true
  default   = ""
}

variable "campaign_file" {
  default = "testdata/contacts.csv"
}

connection "salesforce" "crm" {
  login_url     = var.sf_login_url
  auth          = var.sf_auth
  client_id     = var.sf_client_id
  client_secret = var.sf_client_secret
  username      = var.sf_username
  password      = var.sf_password
  refresh_token = var.sf_refresh_token
}

flow "campaign_leads" {
  description = "Campaign contacts from a CSV file inserted as Salesforce Leads"

  source "file" {
    path   = var.campaign_file
    format = "csv"
    schema = { Id = "string" }
  }

  map {
    FirstName     = "FirstName"
    LastName      = "LastName"
    Email         = "lower(Email)"
    Title         = "Title"
    Company       = "Email != nil && Email contains '@' ? split(Email, '@')[1] : nil"
    Country       = "Country"
    AnnualRevenue = "AnnualRevenue"
    LeadSource    = "'Purchased List'"
    Description   = "'Campaign contact ' + Id"
  }

  sink "salesforce" "leads" {
    connection = connection.salesforce.crm
    object     = "Lead"
  }

  on_error {
    mode        = "continue"
    dead_letter = "out/rejected-leads"
  }
}
