// Types of gen-api-types.mjs, for the test that checks the generated table is current.
export declare const ROOT_MODELS: string[];
export declare function qualifiedName(model: string): string;
export declare function apiTypes(): Map<string, string>;
export declare function renderApiTypes(): string;
