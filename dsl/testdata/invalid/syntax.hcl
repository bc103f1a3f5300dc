flow "broken" {
  source "file" {
    path = # error: Invalid expression
  }
}
