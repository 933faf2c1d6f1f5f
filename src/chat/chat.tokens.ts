/** The configured ChatModel (see createChatModel); tests may override the provider. */
export const CHAT_MODEL = Symbol('CHAT_MODEL');
