// @podnet/api
export {};
