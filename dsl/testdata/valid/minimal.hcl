# The smallest useful flow: one file in, one file out.
flow "copy" {
  source "file" {
    path = "testdata/contacts.csv"
  }
  sink "file" {
    path = "out/"
  }
}
