"""The use cases: scoring members and teams, commission estimates and month close, digests, score snapshots,
messaging a member. Chat commands (commands/), jobs (bot/jobs/) and the command line (bot/cli/) all call these;
services read and write the store (storage/), compute with scoring/, and build cards (cards/). They never send:
a service that must reach a person takes a Messenger (services.messaging) from its caller."""
