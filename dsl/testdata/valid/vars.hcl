variable "batch_size" {
  type = number
}

variable "path" {}

variable "ratio" {
  type    = number
  default = 0.25
}

flow "sized" {
  source "file" {
    path = "in/${var.path}.csv"
  }
  sink "file" {
    path              = "out/"
    target_file_size  = var.batch_size
    compression_ratio = var.ratio
  }
}
