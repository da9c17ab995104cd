export function usccCheckCharacter(first17: string): string | null;
export function usccProblem(code: unknown): "length" | "characters" | "check" | null;
export function isUscc(code: unknown): boolean;
