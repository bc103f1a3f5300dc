name = "x" # error: not expected at the top level

flw "typo" {} # error: Did you mean "flow"?

source "file" { # error: belongs inside a flow block
  path = "in.csv"
}

flow { # error: Missing name label for flow
}

flow "a" "b" { # error: Extraneous label for flow
}

flow "has space" { # error: Invalid flow name
}
