# Salesforce Contact changes → the warehouse's contacts table, as they happen:
# AppFlow's first use case. Each create, update, undelete and delete arrives as
# a Change Data Capture event over the Pub/Sub API; sluice maps and masks it and
# upserts it into contacts by id (deletions delete the row). The replay id is
# stored only after the table committed, so a restart resumes where the table
# stands: nothing lost, nothing applied twice.
#
# By default it talks to the Salesforce emulator and writes to PostgreSQL (the
# loader's PostgreSQL mode; Redshift mode stages through S3 and COPY):
#   sluice dev salesforce --addr 127.0.0.1:8484 &     # Pub/Sub on 127.0.0.1:8485
#   SLUICE_VAR_dw_dsn=postgres://me@127.0.0.1:5432/dw sluice run flows/contacts-to-redshift.hcl
# For a real org and cluster, set the variables, e.g.
#   SLUICE_VAR_sf_login_url=https://acme.my.salesforce.com SLUICE_VAR_sf_auth=jwt ... \
#   SLUICE_VAR_sf_pubsub_endpoint=api.pubsub.salesforce.com:7443 SLUICE_VAR_sf_pubsub_insecure=false \
#   SLUICE_VAR_dw_mode=redshift SLUICE_VAR_dw_dsn=... SLUICE_VAR_dw_staging=s3://acme-staging/sluice/ \
#   SLUICE_VAR_dw_iam_role=arn:aws:iam::123456789012:role/redshift-copy sluice serve --flows flows/

variable "sf_login_url" {
  description = "Salesforce login or My Domain URL; the default is the emulator."
  default     = "http://127.0.0.1:8484"
}

variable "sf_pubsub_endpoint" {
  description = "Pub/Sub API host:port; the emulator serves it next to its HTTP port."
  default     = "127.0.0.1:8485"
}

variable "sf_pubsub_insecure" {
  description = "Plaintext gRPC, for the emulator only."
  default     = true
}

variable "sf_auth" {
  default = "password"
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

variable "dw_dsn" {
  description = "PostgreSQL or Redshift connection string."
  sensitive   = true
  default     = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

variable "dw_mode" {
  description = "postgres (COPY FROM STDIN) or redshift (S3 staging and COPY)."
  default     = "postgres"
}

variable "dw_staging" {
  description = "Redshift mode: the S3 prefix load files are staged under."
  default     = ""
}

variable "dw_iam_role" {
  description = "Redshift mode: the role COPY reads the staged files with."
  default     = ""
}

connection "salesforce" "crm" {
  login_url       = var.sf_login_url
  auth            = var.sf_auth
  client_id       = var.sf_client_id
  client_secret   = var.sf_client_secret
  username        = var.sf_username
  password        = var.sf_password
  refresh_token   = var.sf_refresh_token
  pubsub_endpoint = var.sf_pubsub_endpoint
  pubsub_insecure = var.sf_pubsub_insecure
}

connection "redshift" "warehouse" {
  dsn      = var.dw_dsn
  mode     = var.dw_mode
  staging  = var.dw_staging
  iam_role = var.dw_iam_role
}

flow "contacts_to_redshift" {
  description = "Contact changes from Salesforce, masked, upserted into contacts"

  trigger "event" {
    event        = "ContactChangeEvent"
    batch_size   = 500
    batch_window = "1s"
  }

  source "salesforce" {
    connection = connection.salesforce.crm
    object     = "Contact"
    fields     = ["Id", "FirstName", "LastName", "Title", "Email", "Phone", "AccountId", "LastModifiedDate"]
  }

  map {
    id          = "Id"
    first_name  = "FirstName"
    last_name   = "LastName"
    title       = "Title"
    email       = "lower(Email)"
    phone       = "Phone"
    account_id  = "AccountId"
    modified_at = "LastModifiedDate"
  }

  # Analysts need to tell numbers apart, not to call them.
  mask "phone" {
    keep_last = 4
  }

  sink "redshift" "contacts" {
    connection = connection.redshift.warehouse
    table      = "public.contacts"
    write      = "upsert"
    key        = ["id"]
    deletes    = true
  }

  on_error {
    mode        = "continue"
    dead_letter = "out/rejected-contacts"
  }
}
