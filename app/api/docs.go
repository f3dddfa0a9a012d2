package api

import "github.com/gofiber/fiber/v2"

// docsRoutes mounts the docs routes. (Placeholder, filled by its issue.)
func (a *API) docsRoutes(r fiber.Router) {}
