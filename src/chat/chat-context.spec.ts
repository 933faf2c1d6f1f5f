import { buildContext, type StoredMessage } from './chat-context.js';

const msg = (role: StoredMessage['role'], content: string): StoredMessage => ({ role, content });

describe('buildContext', () => {
  const history = [
    msg('user', 'u3-now'),
    msg('assistant', 'a2'.padEnd(10, '.')),
    msg('user', 'u2'.padEnd(10, '.')),
    msg('assistant', 'a1'.padEnd(10, '.')),
    msg('user', 'u1'.padEnd(10, '.')),
  ];

  it('sends everything, oldest first, when it fits', () => {
    const context = buildContext({
      systemPrompt: 'Be brief.',
      sessionSystem: [],
      newestFirst: history,
      budgetChars: 1000,
    });
    expect(context.system).toBe('Be brief.');
    expect(context.messages.map((m) => m.content)).toEqual([
      'u1........',
      'a1........',
      'u2........',
      'a2........',
      'u3-now',
    ]);
    expect(context.dropped).toBe(0);
  });

  it('drops the oldest first, never skips a message to fit an older one, and never starts with an assistant', () => {
    // 6 + 10 + 10 = 26 fits in 30; a1 (10) does not, so u1 is not considered either.
    const context = buildContext({
      systemPrompt: '',
      sessionSystem: [],
      newestFirst: history,
      budgetChars: 30,
    });
    expect(context.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(context.messages[0].content).toBe('u2........');
    expect(context.dropped).toBe(2);
    const tighter = buildContext({
      systemPrompt: '',
      sessionSystem: [],
      newestFirst: history,
      budgetChars: 16,
    });
    expect(tighter.messages.map((m) => m.content)).toEqual(['u3-now']);
  });

  it('always sends the newest message, even alone over the budget', () => {
    const context = buildContext({
      systemPrompt: 'p',
      sessionSystem: [],
      newestFirst: [msg('user', 'x'.repeat(50))],
      budgetChars: 10,
    });
    expect(context.messages).toEqual([{ role: 'user', content: 'x'.repeat(50) }]);
  });

  it("appends the session's system messages to the prompt and counts them against the budget", () => {
    const context = buildContext({
      systemPrompt: 'Be brief.',
      sessionSystem: ['Answer in French.', '  '],
      newestFirst: history,
      budgetChars: 17 + 26,
    });
    expect(context.system).toBe('Be brief.\n\nAnswer in French.');
    expect(context.messages.map((m) => m.content)).toEqual(['u2........', 'a2........', 'u3-now']);
  });

  it('skips empty and system-role messages of the conversation list', () => {
    const context = buildContext({
      systemPrompt: '',
      sessionSystem: [],
      newestFirst: [
        msg('user', 'now'),
        msg('assistant', ''),
        msg('system', 'ignored here'),
        msg('user', 'before'),
      ],
      budgetChars: 100,
    });
    expect(context.messages).toEqual([
      { role: 'user', content: 'before' },
      { role: 'user', content: 'now' },
    ]);
  });
});
