variable "login_url" {
  type        = string
  default     = "https://login.salesforce.com"
  description = "Where to log in."
}

variable "client_id" {
  type      = string
  default   = "from-default"
  sensitive = true
}

variable "batch_size" {
  type    = number
  default = 100
}

variable "header" {
  type    = bool
  default = false
}

connection "salesforce" "prod" {
  login_url   = var.login_url
  client_id   = env("SF_CLIENT_ID")
  private_key = file("keys/key.pem")
}

connection "salesforce" "sandbox" {
  login_url = "https://test.salesforce.com"
  client_id = "sandbox-${var.client_id}"
}

flow "contacts_to_files" {
  description = "Contacts, cleaned, to CSV and Parquet."

  trigger "on_demand" {}

  source "salesforce" {
    connection = connection.salesforce.prod
    object     = "Contact"
    fields     = ["Id", "Name", "Email", "Country", "Secret"]
  }

  filter { where = "Email != nil" }

  map {
    id      = "Id"
    email   = "lower(Email)"
    name    = "Name"
    country = "Country"
    after   = "'a' + 'b'"
  }

  map {
    all    = true
    except = ["Secret"]
  }

  mask "email" {
    keep_last = 4
    char      = "#"
  }
  mask "id" { hash = "sha256" }
  mask "name" { formula = "substr(name, 0, 1)" }

  truncate "name" { length = 20 }

  validate {
    check   = "email matches '^[^@ ]+@[^@ ]+$'"
    on_fail = "dead_letter"
    message = "bad email"
  }

  partition { keys = ["country"] }

  sink "file" "archive" {
    path             = "out/archive/"
    format           = "parquet"
    target_file_size = var.batch_size
  }

  sink "salesforce" "back" {
    connection = connection.salesforce.sandbox
    object     = "Contact__c"
    write      = "upsert"
    key        = ["id"]
  }

  on_error {
    mode        = "continue"
    dead_letter = "out/rejected/"
  }
}
