// @podnet/controllers
export {};
