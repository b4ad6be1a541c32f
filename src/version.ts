// The version governor reports (REST API, member keys, `governor --version`). A module of its own
// at the bottom of the import graph, so that api and cli need not import the HA code for it.

export const GOVERNOR_VERSION = '0.1.0';
