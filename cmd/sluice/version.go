package main

import "github.com/sluice-dev/sluice/sdk/rpc"

const protocolVersion = rpc.ProtocolVersion
