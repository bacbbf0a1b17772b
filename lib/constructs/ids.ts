/** `deliver-crm` -> `DeliverCrm`: turns a topology key into a construct or output id. */
export function pascal(key: string): string {
  return key
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
