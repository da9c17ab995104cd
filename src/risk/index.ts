/**
 * Risk early warning (朝阳预警通): signals in (ingest), chain signals from the index, the model, ratings and
 * their history, regulators' overrides. No HTTP here: routes, the on-chain push and alerts are built on these.
 */
export * from "./levels";
export * from "./ingest";
export * from "./chainSignals";
export * from "./externalSignals";
export * from "./model";
export * from "./ratings";
export * from "./overrides";
