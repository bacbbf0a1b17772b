import type { DestinationConfig } from '../core/config.js';
import { httpConnector } from './http.js';
import { hubspotDestination } from './hubspot-destination.js';
import type { DestinationConnector } from './types.js';

/**
 * Destination connectors by name. Apart from the webhook connectors (registry.ts), so that deliver's
 * bundle carries no source connector and none of what they import (JMESPath, the normalizers).
 */
const destinations: { readonly [C in DestinationConfig['connector']]?: DestinationConnector } = {
  http: httpConnector,
  hubspot: hubspotDestination,
};

export function destinationConnector(name: DestinationConfig['connector']): DestinationConnector {
  const connector = destinations[name];
  if (!connector) throw new Error(`No destination connector "${name}" in this build`);
  return connector;
}
