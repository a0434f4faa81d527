/** Every Front channel's service name (filled by `frontChannel()`): channels on one number must know each other's sends. */
export const FRONT_CHANNELS = new Set<string>();
