// Package eventbusv1 is the Salesforce Pub/Sub API (package eventbus.v1):
// generated from pubsub_api.proto, which reproduces the published service
// so the emulator (sfemu) serves it and the connector (sfconn) subscribes
// with it exactly as against api.pubsub.salesforce.com. Start at
// PubSubClient / PubSubServer; `make generate` regenerates the code.
package eventbusv1
