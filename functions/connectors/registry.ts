import type { DESTINATION_CONNECTORS, SOURCE_CONNECTORS } from '../core/config.js';
import { httpConnector } from './http.js';
import { stripeConnector } from './stripe.js';
import type { DestinationConnector, SourceConnector } from './types.js';

const sources: Record<(typeof SOURCE_CONNECTORS)[number], SourceConnector> = { stripe: stripeConnector };
const destinations: Record<(typeof DESTINATION_CONNECTORS)[number], DestinationConnector> = {
  http: httpConnector,
};

export function sourceConnector(name: (typeof SOURCE_CONNECTORS)[number]): SourceConnector {
  return sources[name];
}

export function destinationConnector(name: (typeof DESTINATION_CONNECTORS)[number]): DestinationConnector {
  return destinations[name];
}
