// @podnet/client
export {};
