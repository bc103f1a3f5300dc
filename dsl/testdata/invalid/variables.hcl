variable "needed" {} # error: No value for required variable

variable "typed" {
  type = strin # error: Did you mean "string"?
}

variable "numeric" {
  type    = number
  default = "abc" # error: a number is required
}

variable "typo" {
  defualt = 1 # error: Did you mean "default"?
}

variable "typo" { # error: Duplicate variable
  default = 2
}

variable "computed" {
  default = env("SF_CLIENT_ID") # error: Functions may not be called here
}

variable "flag" {
  type      = bool
  default   = true
  sensitive = "maybe" # error: a bool is required
}

flow "uses_vars" {
  source "file" {
    path = var.needed
  }
  sink "file" {
    path   = var.nope # error: Reference to undeclared variable
    format = foo.bar # error: Unknown reference
  }
}
