// @podnet/apiserver
export {};
