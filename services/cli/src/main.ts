import { CLIENT_PLACEHOLDER } from "@presence/client";
console.log(CLIENT_PLACEHOLDER);
