package api

import "github.com/gofiber/fiber/v2"

// authRoutes mounts the auth routes. (Placeholder, filled by its issue.)
func (a *API) authRoutes(r fiber.Router) {}
